import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { ConfigValidationError, readConfig } from '../../infra/config';
import { synth, TEST_APP } from './stack-helpers';

const SLACK = { workspaceId: 'T0123ABCD', channelId: 'C0456EFGH' };
const TEAMS = {
  teamId: '1b2c3d4e-0000-4000-8000-123456789abc',
  tenantId: '9f8e7d6c-0000-4000-8000-cba987654321',
  channelId: '19%3ab2e1c0d2a1f34e2b8c7d6e5f4a3b2c1d%40thread.tacv2',
};
const ALERTS = { Ref: Match.stringLikeRegexp('^TopicsAlerts') };
const CRITICAL = { Ref: Match.stringLikeRegexp('^TopicsCritical') };
const READ_ONLY = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/ReadOnlyAccess']],
};

/** A role the chat service may assume. */
const CHAT_ROLE = {
  Properties: {
    AssumeRolePolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'chatbot.amazonaws.com' } })]),
    },
  },
};

describe('alerts in chat (Amazon Q Developer in chat applications)', () => {
  it('creates no channel, role or guardrail without slackChannels or microsoftTeamsChannels', () => {
    const template = synth();
    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
    template.resourceCountIs('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', 0);
    expect(template.findResources('AWS::IAM::Role', CHAT_ROLE)).toEqual({});
  });

  it('wires each Slack channel to the alerts and critical topics, read-only guardrail, named after the stack', () => {
    const template = synth({ slackChannels: [SLACK, { ...SLACK, channelId: 'C0789', name: 'finops' }] });

    template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 2);
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: 'Test-slack-C0456EFGH',
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0456EFGH',
      SnsTopicArns: [ALERTS, CRITICAL],
      GuardrailPolicies: [READ_ONLY],
      IamRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ChatChannelRole'), 'Arn'] },
      LoggingLevel: 'ERROR',
    });
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: 'finops',
      SlackChannelId: 'C0789',
    });
  });

  it('gives the channels one role the chat service assumes, with no permissions at all', () => {
    const template = synth({ slackChannels: [SLACK], microsoftTeamsChannels: [TEAMS] });
    const roles = template.findResources('AWS::IAM::Role', CHAT_ROLE);

    expect(Object.keys(roles)).toEqual([expect.stringMatching(/^ChatChannelRole/)]);
    const [roleId] = Object.keys(roles);
    const role = roles[roleId ?? ''] as { Properties: Record<string, unknown> };
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    const attached = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
    });
    expect(attached).toEqual({});
  });

  it('wires a Microsoft Teams channel the same way', () => {
    const template = synth({ microsoftTeamsChannels: [TEAMS] });

    template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      ConfigurationName: 'Test-teams-0',
      TeamId: TEAMS.teamId,
      TeamsTenantId: TEAMS.tenantId,
      TeamsChannelId: TEAMS.channelId,
      SnsTopicArns: [ALERTS, CRITICAL],
      GuardrailPolicies: [READ_ONLY],
      IamRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ChatChannelRole'), 'Arn'] },
    });
  });

  it.each([
    ['a Slack channel id that is a name', { slackChannels: [{ ...SLACK, channelId: '#alerts' }] }, 'Slack channel id'],
    ['a Slack workspace id in lower case', { slackChannels: [{ ...SLACK, workspaceId: 't0123' }] }, 'workspace id'],
    [
      'a Teams channel id not URL-encoded',
      { microsoftTeamsChannels: [{ ...TEAMS, channelId: '19:x@thread.tacv2' }] },
      'URL-encoded',
    ],
    ['a tenant that is no UUID', { microsoftTeamsChannels: [{ ...TEAMS, tenantId: 'contoso' }] }, 'tenant id'],
  ])('refuses %s, naming the setting', (_, context, what) => {
    const app = new App({ ...TEST_APP, context });
    expect(() => readConfig(app.node)).toThrow(ConfigValidationError);
    expect(() => readConfig(app.node)).toThrow(what);
  });

  it('reads the channels from `-c slackChannels=[...]` as the command line passes them', () => {
    const app = new App({ ...TEST_APP, context: { slackChannels: JSON.stringify([SLACK]) } });
    expect(readConfig(app.node).slackChannels).toEqual([SLACK]);
  });
});
