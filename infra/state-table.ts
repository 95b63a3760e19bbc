// The state table as a CDK construct: the one piece of infrastructure every other part needs. Key layout
// and item kinds are in core/records.ts and docs/state-store.md.

import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface TableCapacity {
  readUnits: number;
  writeUnits: number;
}

export interface StateTableProps {
  /** Physical table name; leave unset to let CloudFormation name it (recommended for several stacks). */
  tableName?: string;
  /**
   * Provisioned capacity instead of on-demand. The load is steady (heartbeats, renewals, evaluator
   * rounds), so provisioned capacity costs several times less once the number of clusters is known;
   * docs/benchmarks.md has the units one cluster needs. Unset: on demand, which follows any count.
   */
  capacity?: TableCapacity;
}

export class PgFailoverStateTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: 'cluster', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      ...(props.capacity
        ? {
            billingMode: BillingMode.PROVISIONED,
            readCapacity: props.capacity.readUnits,
            writeCapacity: props.capacity.writeUnits,
          }
        : { billingMode: BillingMode.PAY_PER_REQUEST }),
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
