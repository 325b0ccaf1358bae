import { Stack } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** A Slack channel that shows the alerts: the workspace's id (Amazon Q Developer console) and the channel's. */
export interface SlackChannel {
  readonly workspaceId: string;
  readonly channelId: string;
  /** The configuration's name. @default `<stack>-slack-<channelId>` */
  readonly name?: string;
}

/** A Microsoft Teams channel that shows the alerts: the team's, its tenant's and the (URL-encoded) channel's ids. */
export interface TeamsChannel {
  readonly teamId: string;
  readonly tenantId: string;
  readonly channelId: string;
  /** The configuration's name. @default `<stack>-teams-<n>` */
  readonly name?: string;
}

export interface ChatProps {
  /** The topics every channel shows: alerts and critical. */
  readonly topics: readonly sns.ITopic[];
  /** @default none */
  readonly slackChannels?: readonly SlackChannel[];
  /** @default none */
  readonly teamsChannels?: readonly TeamsChannel[];
}

/** Configuration names: letters, digits, - and _, at most 128. */
const configurationName = (text: string) => text.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 128);

/**
 * Alerts in chat through Amazon Q Developer in chat applications (formerly AWS Chatbot): each channel subscribes to
 * the topics and renders the custom notification `shared/notify.ts` publishes for https, links included. The channel
 * reads, it does not act: its role has no permissions (a notification needs none), and the guardrail caps whatever
 * is granted to it later, or to a member's own role, at read-only access.
 */
export class Chat extends Construct {
  /** The channels' role: assumed by the chat service, with no permissions of its own. */
  public readonly role?: iam.Role;
  /** The most any channel member may do from the channel: read. */
  public readonly guardrail?: iam.IManagedPolicy;
  public readonly slack: chatbot.SlackChannelConfiguration[] = [];
  public readonly teams: chatbot.CfnMicrosoftTeamsChannelConfiguration[] = [];

  constructor(scope: Construct, id: string, props: ChatProps) {
    super(scope, id);
    const slackChannels = props.slackChannels ?? [];
    const teamsChannels = props.teamsChannels ?? [];
    if (slackChannels.length === 0 && teamsChannels.length === 0) return;
    const stackName = Stack.of(this).stackName;
    const role = new iam.Role(this, 'ChannelRole', {
      assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
      description: 'Budgeteer alert channels: notifications only, no permissions',
    });
    const guardrail = iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess');
    this.role = role;
    this.guardrail = guardrail;
    for (const channel of slackChannels) {
      this.slack.push(
        new chatbot.SlackChannelConfiguration(this, `Slack-${channel.channelId}`, {
          slackChannelConfigurationName: configurationName(channel.name ?? `${stackName}-slack-${channel.channelId}`),
          slackWorkspaceId: channel.workspaceId,
          slackChannelId: channel.channelId,
          notificationTopics: [...props.topics],
          role,
          guardrailPolicies: [guardrail],
          loggingLevel: chatbot.LoggingLevel.ERROR,
        }),
      );
    }
    teamsChannels.forEach((channel, index) => {
      this.teams.push(
        new chatbot.CfnMicrosoftTeamsChannelConfiguration(this, `Teams-${index}`, {
          configurationName: configurationName(channel.name ?? `${stackName}-teams-${index}`),
          teamId: channel.teamId,
          teamsTenantId: channel.tenantId,
          teamsChannelId: channel.channelId,
          snsTopicArns: props.topics.map((topic) => topic.topicArn),
          iamRoleArn: role.roleArn,
          guardrailPolicies: [guardrail.managedPolicyArn],
          loggingLevel: 'ERROR',
        }),
      );
    });
  }
}
