// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${Name} here is CloudFormation's Fn::Sub and substitution syntax.
import { type IntrinsicContext, IntrinsicError, referencedNames, resolveValue } from '../../local/intrinsics';

const ctx: IntrinsicContext = {
  ref: (name) => {
    if (name === 'Budgets') return 'budgeteer-Budgets';
    throw new IntrinsicError(`no ${name}`);
  },
  getAtt: (logicalId, attribute) => `${logicalId}/${attribute}`,
  condition: (name) => name === 'IsProduction',
  findInMap: (map, top, second) => `${map}.${top}.${second}`,
  pseudo: { 'AWS::Region': 'us-east-1', 'AWS::AccountId': '123456789012', 'AWS::Partition': 'aws' },
};

describe('resolveValue', () => {
  it('joins strings, Refs and GetAtts', () => {
    const value = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':', { 'Fn::GetAtt': ['Budgets', 'Arn'] }]] };

    expect(resolveValue(value, ctx)).toBe('arn:aws:Budgets/Arn');
  });

  it('substitutes names, attributes, variables and keeps ${!escaped} text', () => {
    const value = {
      'Fn::Sub': ['${Budgets}|${Budgets.StreamArn}|${AWS::Region}|${limit}|${!literal}', { limit: '80' }],
    };

    expect(resolveValue(value, ctx)).toBe('budgeteer-Budgets|Budgets/StreamArn|us-east-1|80|${literal}');
  });

  it('drops a property whose Fn::If chose AWS::NoValue', () => {
    const value = { kept: 'yes', dropped: { 'Fn::If': ['IsTest', 'x', { Ref: 'AWS::NoValue' }] } };

    expect(resolveValue(value, ctx)).toEqual({ kept: 'yes' });
  });

  it('selects from a split list', () => {
    const value = { 'Fn::Select': [1, { 'Fn::Split': ['/', 'table/Budgets/stream'] }] };

    expect(resolveValue(value, ctx)).toBe('Budgets');
  });

  it('refuses an intrinsic it cannot run locally, naming it', () => {
    expect(() => resolveValue({ 'Fn::ImportValue': 'shared-vpc' }, ctx)).toThrow('Fn::ImportValue is not supported');
  });
});

describe('referencedNames', () => {
  it('finds Ref, GetAtt and Fn::Sub references but not Sub variables or pseudo parameters', () => {
    const value = {
      a: { Ref: 'Topic' },
      b: { 'Fn::GetAtt': 'Table.StreamArn' },
      c: { 'Fn::Sub': ['${Machine}-${AWS::Region}-${local}-${!skip}', { local: { Ref: 'Queue' } }] },
    };

    expect([...referencedNames(value)].sort()).toEqual(['AWS::Region', 'Machine', 'Queue', 'Table', 'Topic']);
  });
});
