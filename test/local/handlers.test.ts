import { type LocalAws, startLocalAws } from '../../local/aws';
import { type CloudFormationTemplateJson, deployTemplate } from '../../local/deploy';
import { HandlerLoadError, handlersFor, loadHandler } from '../../local/handlers';

jest.setTimeout(30_000);

const ENTRY = 'test/local/fixtures/list-tables-handler.ts';

const template: CloudFormationTemplateJson = {
  Resources: {
    Budgets: {
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      },
    },
    Evaluate: {
      Type: 'AWS::Lambda::Function',
      Metadata: { 'budgeteer:entry': ENTRY },
      Properties: { Environment: { Variables: { BUDGETS_TABLE: { Ref: 'Budgets' } } } },
    },
  },
};

describe('handlersFor', () => {
  let local: LocalAws;

  beforeAll(async () => {
    local = await startLocalAws();
  });

  afterAll(() => local.stop());

  it("loads each entry with its function's environment and an SDK pointed at the local AWS", async () => {
    const deployment = await deployTemplate(local, template, { handlers: handlersFor(template, local) });

    const result = await local.invoke(deployment.functions.Evaluate?.name ?? '', {});

    expect(result).toEqual({ budgetsTable: 'budgeteer-Budgets', tables: ['budgeteer-Budgets'] });
  });

  it('names the entry it cannot load', () => {
    const load = () => loadHandler('functions/missing/handler.ts', {}, local);

    expect(load).toThrow(HandlerLoadError);
    expect(load).toThrow('cannot load functions/missing/handler.ts');
  });
});
