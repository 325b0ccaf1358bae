import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { DEFAULT_CONFIG } from '../../infra/config';
import { AuditLog } from '../../infra/constructs/audit';
import { EVERYTHING_ON, list, policyDocuments, synth, TEST_APP } from './stack-helpers';

const template = synth();

function auditTableId(t: Template): string {
  const tables = t.findResources('AWS::DynamoDB::Table', {
    Properties: { KeySchema: [{ AttributeName: 'subject', KeyType: 'HASH' }, Match.anyValue()] },
  });
  const ids = Object.keys(tables);
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

const EDITS = ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
/** An action that could change or remove an existing audit entry, or a wildcard that might. */
const isEdit = (action: string) =>
  action === '*' || EDITS.includes(action) || /^dynamodb:PartiQL/i.test(action) || /^dynamodb:.*\*/.test(action);

/** Statements that allow editing entries of the audit table (by its logical id, or by any wildcard resource). */
function editGrants(t: Template, tableId: string): string[] {
  const violations: string[] = [];
  for (const { where, document } of policyDocuments(t)) {
    for (const statement of document.Statement) {
      if (statement.Effect !== 'Allow') continue;
      const resources = list(statement.Resource);
      const onAudit = resources.some((resource) => {
        const text = JSON.stringify(resource);
        return text.includes(tableId) || resource === '*' || /table\/\*/.test(text);
      });
      if (!onAudit) continue;
      const edits = statement.NotAction ? ['NotAction'] : list(statement.Action).filter(isEdit);
      if (edits.length > 0) violations.push(`${where}: ${edits.join(', ')}`);
    }
  }
  return violations;
}

/** A stack with just the audit log and a role granted something on it, to prove the check can fail. */
function auditWith(grant: (audit: AuditLog, role: iam.Role) => void): Template {
  const stack = new Stack(new App(TEST_APP), 'AuditOnly');
  const audit = new AuditLog(stack, 'Audit', { capacity: DEFAULT_CONFIG.tableCapacity });
  grant(audit, new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
  return Template.fromStack(stack);
}

describe('the Audit table', () => {
  it('keys each subject chain by a sequence number and indexes it by time, action and day', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'subject', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
      LocalSecondaryIndexes: [
        {
          IndexName: 'byTime',
          KeySchema: [
            { AttributeName: 'subject', KeyType: 'HASH' },
            { AttributeName: 'at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byAction',
          KeySchema: [
            { AttributeName: 'action', KeyType: 'HASH' },
            { AttributeName: 'at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
        Match.objectLike({
          IndexName: 'byDay',
          KeySchema: [
            { AttributeName: 'day', KeyType: 'HASH' },
            { AttributeName: 'at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ],
    });
  });

  it('is protected: PITR, encryption, deletion protection, and retained when the stack goes', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: Match.arrayWith([{ AttributeName: 'subject', KeyType: 'HASH' }]),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it("denies updating and deleting entries to every principal in the table's own policy", () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: Match.arrayWith([{ AttributeName: 'subject', KeyType: 'HASH' }]),
      ResourcePolicy: {
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: [
                'dynamodb:UpdateItem',
                'dynamodb:DeleteItem',
                'dynamodb:BatchWriteItem',
                'dynamodb:PartiQLUpdate',
                'dynamodb:PartiQLDelete',
              ],
              Resource: '*',
              Sid: 'AuditEntriesAreAppendOnly',
            },
          ],
        },
      },
    });
  });

  it('is provisioned with auto-scaling towards 70% on the table and both global indexes', () => {
    const tableId = auditTableId(template);
    const targets = Object.entries(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget')).filter(
      ([, target]) => JSON.stringify(target.Properties.ResourceId).includes(tableId),
    );
    const scaled = targets.map(([, target]) => [
      JSON.stringify(target.Properties.ResourceId).match(/index\/(\w+)/)?.[1] ?? 'table',
      target.Properties.ScalableDimension,
      target.Properties.MinCapacity,
      target.Properties.MaxCapacity,
    ]);
    expect(scaled.sort()).toEqual(
      [
        ['table', 'dynamodb:table:ReadCapacityUnits', 5, 100],
        ['table', 'dynamodb:table:WriteCapacityUnits', 5, 200],
        ['byAction', 'dynamodb:index:ReadCapacityUnits', 5, 100],
        ['byAction', 'dynamodb:index:WriteCapacityUnits', 5, 200],
        ['byDay', 'dynamodb:index:ReadCapacityUnits', 5, 100],
        ['byDay', 'dynamodb:index:WriteCapacityUnits', 5, 200],
      ].sort(),
    );
    const targetIds = new Set(targets.map(([id]) => id));
    const policies = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy')).filter(
      (policy) => targetIds.has(policy.Properties.ScalingTargetId.Ref),
    );
    expect(policies.map((p) => p.Properties.TargetTrackingScalingPolicyConfiguration.TargetValue)).toEqual(
      Array(6).fill(70),
    );
  });

  it('names itself in the AuditTableName output for the CLI', () => {
    template.hasOutput('AuditTableName', { Value: { Ref: auditTableId(template) } });
  });
});

describe('append-only', () => {
  it('no IAM policy in the stack lets anyone update, delete, batch-write or PartiQL-edit audit entries', () => {
    for (const context of [{}, EVERYTHING_ON]) {
      const t = synth(context);
      expect(editGrants(t, auditTableId(t))).toEqual([]);
    }
  });

  it('would catch a role granted the usual write access (the check above can fail)', () => {
    const t = auditWith((audit, role) => audit.table.grantWriteData(role));

    expect(editGrants(t, auditTableId(t))).toEqual([
      expect.stringMatching(/: dynamodb:BatchWriteItem, dynamodb:UpdateItem, dynamodb:DeleteItem$/),
    ]);
  });

  it('grants an appender exactly PutItem, GetItem and Query on the table and Query on each index by name', () => {
    const t = auditWith((audit, role) => audit.grantAppend(role));
    const tableId = auditTableId(t);

    expect(editGrants(t, tableId)).toEqual([]);
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Query'],
            Resource: { 'Fn::GetAtt': [tableId, 'Arn'] },
          },
          {
            Effect: 'Allow',
            Action: 'dynamodb:Query',
            Resource: ['byTime', 'byAction', 'byDay'].map((index) => ({
              'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, `/index/${index}`]],
            })),
          },
        ],
      },
    });
  });
});
