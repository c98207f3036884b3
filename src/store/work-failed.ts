// What a transactional consumer's work threw (EventStore.transactAck), carried out of the transaction it
// rolls back: thrown inside the transaction by either store, answered as the outcome `failed` outside it.
export class WorkFailed extends Error {
  constructor(readonly error: unknown) {
    super('the transactional work threw');
  }
}
