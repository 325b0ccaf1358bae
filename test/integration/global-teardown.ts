import type { LocalStack } from '../../local/stack';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { budgeteerStack?: LocalStack }).budgeteerStack?.stop();
}
