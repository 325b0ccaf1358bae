import { type DynamoDBDocumentClient, GetCommand, NumberValue, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ACCOUNT_PRINCIPAL } from './identity';
import { LIMIT_PERIOD } from './ledger';
import { toDecimalString, type Usd, usd, ZERO } from './money';

/** The principal key under which a deployment-wide default limit set at run time is stored. */
export const DEFAULT_PRINCIPAL = 'DEFAULT';

export interface Limits {
  /** From configuration, used when neither the principal nor DEFAULT has a limit item. */
  readonly configuredDefault: Usd;
  readonly configuredAccount: Usd;
}

/** A DynamoDB number read with `wrapNumbers` (NumberValue), or a string: kept exact either way. */
export function decimalOf(value: unknown): Usd {
  if (value === undefined || value === null) return ZERO;
  if (value instanceof NumberValue) return usd(value.value);
  if (typeof value === 'string') return usd(value);
  if (typeof value === 'object' && 'value' in value) return usd(String((value as { value: unknown }).value));
  throw new TypeError(`not a DynamoDB decimal: ${JSON.stringify(value)}`);
}

export class BudgetStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly limits: Limits,
  ) {}

  /** Sets a principal's limit (or DEFAULT's, or ACCOUNT's). Auditing the change is the caller's part. */
  async setLimit(principal: string, limitUsd: Usd, setBy: string, now = new Date()): Promise<void> {
    if (limitUsd.lt(0)) throw new RangeError('a budget limit cannot be negative');
    await this.client.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          principal,
          period: LIMIT_PERIOD,
          limitUsd: NumberValue.from(toDecimalString(limitUsd)),
          setBy,
          setAt: now.toISOString(),
        },
      }),
    );
  }

  /** The limit in force for a principal: its own, else the run-time default, else the configured one. */
  async limitOf(principal: string): Promise<Usd> {
    const own = await this.limitItem(principal);
    if (own) return own;
    if (principal === ACCOUNT_PRINCIPAL) return this.limits.configuredAccount;
    return (await this.limitItem(DEFAULT_PRINCIPAL)) ?? this.limits.configuredDefault;
  }

  /** Spend so far of a principal in a period. */
  async spendOf(principal: string, period: string): Promise<Usd> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { principal, period }, ConsistentRead: true }),
    );
    return decimalOf(Item?.spendUsd);
  }

  private async limitItem(principal: string): Promise<Usd | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { principal, period: LIMIT_PERIOD }, ConsistentRead: true }),
    );
    return Item ? decimalOf(Item.limitUsd) : undefined;
  }
}
