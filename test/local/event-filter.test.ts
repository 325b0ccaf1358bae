import { passesFilters } from '../../local/event-filter';

const modify = {
  eventName: 'MODIFY',
  dynamodb: { NewImage: { pk: { S: 'PRINCIPAL#alice' }, level: { N: '90' } } },
};

describe('passesFilters', () => {
  it('passes every record when there are no patterns', () => {
    expect(passesFilters([], modify)).toBe(true);
  });

  it('matches exact values, prefixes and numeric ranges in nested fields', () => {
    const pattern = {
      eventName: ['INSERT', 'MODIFY'],
      dynamodb: { NewImage: { pk: { S: [{ prefix: 'PRINCIPAL#' }] }, level: { N: [{ numeric: ['>=', 80] }] } } },
    };

    expect(passesFilters([pattern], modify)).toBe(true);
    expect(passesFilters([{ eventName: ['REMOVE'] }], modify)).toBe(false);
  });

  it('treats exists:false as "the field is absent" and anything-but as exclusion', () => {
    expect(passesFilters([{ dynamodb: { NewImage: { level: { N: [{ exists: false }] } } } }], modify)).toBe(false);
    expect(passesFilters([{ dynamodb: { NewImage: { suspended: [{ exists: false }] } } }], modify)).toBe(true);
    expect(passesFilters([{ eventName: [{ 'anything-but': ['REMOVE'] }] }], modify)).toBe(true);
  });
});
