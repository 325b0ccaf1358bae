import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBudgetAttribute } from '../../shared/budgets/items';

/**
 * A workflow that reads or writes the Budgets table itself (a direct DynamoDB integration, optimized or through
 * the AWS SDK integration) must spell its attributes as shared/budgets/items.ts does: nothing else may.
 */
const ROOT = join(__dirname, '..', '..', 'statemachines');
const definitions = readdirSync(ROOT)
  .filter((file) => file.endsWith('.asl.json'))
  .map((file) => ({ file, definition: JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as unknown }));

interface Integration {
  readonly state: string;
  readonly resource: string;
  readonly parameters: Record<string, unknown>;
}

const DYNAMODB = /^arn:aws:states:::(aws-sdk:)?dynamodb:/;

/** Every Task state calling DynamoDB, however deep (Map iterators and item processors, Parallel branches). */
function dynamoDbTasks(node: unknown, found: Integration[] = []): Integration[] {
  if (Array.isArray(node)) {
    for (const child of node) dynamoDbTasks(child, found);
  } else if (typeof node === 'object' && node !== null) {
    const states = (node as { States?: unknown }).States;
    if (typeof states === 'object' && states !== null) {
      for (const [name, state] of Object.entries(states)) {
        const { Type, Resource, Parameters, Arguments } = state as Record<string, unknown>;
        if (Type === 'Task' && typeof Resource === 'string' && DYNAMODB.test(Resource)) {
          found.push({ state: name, resource: Resource, parameters: (Parameters ?? Arguments ?? {}) as never });
        }
      }
    }
    for (const value of Object.values(node)) dynamoDbTasks(value, found);
  }
  return found;
}

const EXPRESSIONS = ['UpdateExpression', 'ConditionExpression', 'ProjectionExpression', 'KeyConditionExpression'];

/**
 * The attribute names a DynamoDB call's parameters spell, at any depth (a transaction's items too): the names of
 * keys and items, expression attribute names, and names written out in expressions (not #placeholders, :values).
 */
function attributeNames(parameters: unknown): string[] {
  if (Array.isArray(parameters)) return parameters.flatMap(attributeNames);
  if (typeof parameters !== 'object' || parameters === null) return [];
  return Object.entries(parameters).flatMap(([name, value]) => {
    const field = name.replace(/\.\$$/, '');
    if (field === 'Key' || field === 'Item') return Object.keys(value ?? {}).map((key) => key.replace(/\.\$$/, ''));
    if (field === 'ExpressionAttributeNames') return Object.values(value ?? {}).map(String);
    if (field === 'ExpressionAttributeValues') return [];
    if (EXPRESSIONS.includes(field)) {
      return String(value).match(/(?<![#:\w])[A-Za-z_]\w*(?=\s*(=|<|>|,|\)|$|:|\s+(IN|BETWEEN)\b))/g) ?? [];
    }
    return attributeNames(value);
  });
}

const unknownNames = (integration: Integration) =>
  attributeNames(integration.parameters).filter((name) => !isBudgetAttribute(name));

describe('state machines and the Budgets item schema', () => {
  it('finds both workflow definitions to check', () => {
    expect(definitions.map((d) => d.file).sort()).toEqual(['emergency-stop.asl.json', 'suspend-principal.asl.json']);
  });

  it('today reaches DynamoDB only through the project functions, which use the schema module', () => {
    expect(
      definitions.flatMap(({ file, definition }) => dynamoDbTasks(definition).map((t) => `${file}#${t.state}`)),
    ).toEqual([]);
  });

  it.each(definitions)(
    '$file: every direct DynamoDB integration spells only Budgets attribute names',
    ({ definition }) => {
      expect(dynamoDbTasks(definition).flatMap(unknownNames)).toEqual([]);
    },
  );

  it('would catch an integration added with a name the schema does not know', () => {
    const added = {
      StartAt: 'Hold',
      States: {
        Hold: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'MarkStopped',
            States: {
              MarkStopped: {
                Type: 'Task',
                Resource: 'arn:aws:states:::dynamodb:updateItem',
                Parameters: {
                  TableName: 'Budgets',
                  Key: { principal: { 'S.$': '$.principal' }, period: { 'S.$': '$.period' } },
                  UpdateExpression: 'SET #s = :s, stoppedBy = :by ADD stops :one',
                  ExpressionAttributeNames: { '#s': 'status' },
                  ExpressionAttributeValues: { ':s': { S: 'stopped' }, ':by': { S: 'x' } },
                },
                End: true,
              },
            },
          },
          End: true,
        },
      },
    };

    const [integration] = dynamoDbTasks(added);
    expect(integration?.state).toBe('MarkStopped');
    expect(unknownNames(integration as Integration).sort()).toEqual(['status', 'stoppedBy', 'stops']);
    const good = {
      ...(integration as Integration),
      parameters: {
        Key: { principal: {}, period: {} },
        UpdateExpression: 'SET #s = :s, stopRequestedBy = :by ADD requests :one REMOVE outboxSince',
        ExpressionAttributeNames: { '#s': 'state' },
      },
    };
    expect(unknownNames(good)).toEqual([]);
  });
});
