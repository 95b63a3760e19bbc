// The switchover Lambda's entry point: wiring from the environment only.
import { systemClock } from '../../core/clock.ts';
import { StateStore } from '../../core/state-store.ts';
import { createSwitchoverHandler } from './handler.ts';

const table = process.env.TABLE_NAME;
if (!table) throw new Error('TABLE_NAME is not set: the switchover function needs the state table name');

export const handler = createSwitchoverHandler({
  store: StateStore.connect({ table, region: process.env.AWS_REGION }),
  clock: systemClock,
});
