/** The error a promise rejects with (fails the test when it resolves), for checking a typed error's fields. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
