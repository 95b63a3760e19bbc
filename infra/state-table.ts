// The state table as a CDK construct: the one piece of infrastructure every other part needs. Key layout
// and item kinds are in core/records.ts and docs/state-store.md.

import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface StateTableProps {
  /** Physical table name; leave unset to let CloudFormation name it (recommended for several stacks). */
  tableName?: string;
}

export class PgFailoverStateTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: 'cluster', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      // Heartbeats every second per node: on-demand billing follows the cluster count without tuning.
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.AWS_MANAGED,
      // History entries carry expiresAt (epoch seconds); nothing else does, so nothing else expires.
      timeToLiveAttribute: 'expiresAt',
      // The table holds who is primary: never delete it with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
