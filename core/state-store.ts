// The one typed module through which the agent, the Lambdas and the CLI reach the state table.
// Single-item conditional writes only (no transactions, no streams): the same protocol works on DynamoDB
// and on dynalite. Reads that feed a decision are consistent reads. Every item read is schema-checked.
// Each family of items has a file of its own under store/; this class binds them to one table.

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, type StoreConnection } from './store/connection.ts';
import { StoreTable, createTableIfMissing } from './store/table.ts';
import * as clusters from './store/cluster-items.ts';
import * as heartbeats from './store/heartbeat-items.ts';
import * as leases from './store/lease-items.ts';
import * as votes from './store/vote-items.ts';
import * as history from './store/history-items.ts';
import * as index from './store/index-items.ts';

export { createDocumentClient, type StoreConnection } from './store/connection.ts';
export type { InvalidItem } from './store/table.ts';
export type { ClusterSnapshot, NewCluster, ReadConsistency } from './store/cluster-items.ts';

/** A family's function with the table bound: the store's method of the same name. */
type Bound<F> = F extends (t: StoreTable, ...rest: infer A) => infer R ? (...rest: A) => R : never;

export class StateStore {
  private readonly t: StoreTable;

  constructor(
    documents: DynamoDBDocumentClient,
    readonly table: string,
  ) {
    this.t = new StoreTable(documents, table);
  }

  static connect(connection: StoreConnection): StateStore {
    return new StateStore(createDocumentClient(connection), connection.table);
  }

  /** Read at each call, so that the fields below may be initialised before the constructor has run. */
  private bind<A extends unknown[], R>(f: (t: StoreTable, ...rest: A) => R): Bound<typeof f> {
    return ((...rest: A) => f(this.t, ...rest)) as Bound<typeof f>;
  }

  readonly createTableIfMissing = this.bind(createTableIfMissing);
  // The cluster record, its membership, and the snapshot the evaluator decides on (store/cluster-items.ts).
  readonly initCluster = this.bind(clusters.initCluster);
  readonly getCluster = this.bind(clusters.getCluster);
  readonly getMembership = this.bind(clusters.getMembership);
  readonly updateMembership = this.bind(clusters.updateMembership);
  readonly readSnapshot = this.bind(clusters.readSnapshot);
  readonly writeCluster = this.bind(clusters.writeCluster);
  readonly recordAddressHolder = this.bind(clusters.recordAddressHolder);
  readonly recordNodeStopped = this.bind(clusters.recordNodeStopped);
  // The agents' heartbeats and the refused ones (store/heartbeat-items.ts).
  readonly putHeartbeat = this.bind(heartbeats.putHeartbeat);
  readonly recordRejected = this.bind(heartbeats.recordRejected);
  readonly deleteRejected = this.bind(heartbeats.deleteRejected);
  readonly deleteHeartbeat = this.bind(heartbeats.deleteHeartbeat);
  // The primary's lease (store/lease-items.ts).
  readonly renewLease = this.bind(leases.renewLease);
  readonly releaseLease = this.bind(leases.releaseLease);
  readonly withdrawVote = this.bind(votes.withdrawVote);
  // The history (store/history-items.ts).
  readonly appendHistory = this.bind(history.appendHistory);
  readonly readHistory = this.bind(history.readHistory);
  // The index partition: the clusters, the evaluation's owner (store/index-items.ts).
  readonly indexCluster = this.bind(index.indexCluster);
  readonly listClusters = this.bind(index.listClusters);
  readonly claimEvaluation = this.bind(index.claimEvaluation);
  readonly evaluationOwner = this.bind(index.evaluationOwner);
}
