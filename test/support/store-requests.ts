// A state-store client on dynalite whose every request is recorded (core/store/request-log.ts), so that what
// is judged against the grants is what the code sends, not what a test says it sends.

import { createDocumentClient, StateStore } from '../../core/state-store.ts';
import { recordRequests, type StoreRequest } from '../../core/store/request-log.ts';

export type { StoreRequest } from '../../core/store/request-log.ts';

/** A StateStore on dynalite whose every request is appended to `requests`. */
export function recordingStore(endpoint: string, table: string): { store: StateStore; requests: StoreRequest[] } {
  const requests: StoreRequest[] = [];
  const documents = createDocumentClient({ endpoint, region: 'local', maxAttempts: 1 });
  recordRequests(documents, (request) => requests.push(request));
  return { store: new StateStore(documents, table), requests };
}
