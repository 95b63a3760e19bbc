import { describe, expect, it } from 'vitest';
import { catchUpSource, type PeerPosition } from '../../core/catch-up.ts';

const peer = (nodeId: string, position: string, timeline: number | null = 1): PeerPosition => ({
  nodeId,
  address: `${nodeId}.internal`,
  timeline,
  position,
});

describe('catchUpSource: whom a failover candidate fetches the WAL it lacks from', () => {
  it.each<[string, { timeline: number | null; position: string }, PeerPosition[], string | undefined]>([
    ['no other standby', { timeline: 1, position: '0/5000000' }, [], undefined],
    ['every other standby level', { timeline: 1, position: '0/5000000' }, [peer('db3', '0/5000000')], undefined],
    ['every other standby behind', { timeline: 1, position: '0/5000000' }, [peer('db3', '0/4FFFFFF')], undefined],
    ['one standby ahead', { timeline: 1, position: '0/5000000' }, [peer('db3', '0/5000001')], 'db3'],
    [
      'the furthest of several ahead',
      { timeline: 1, position: '0/5000000' },
      [peer('db3', '0/5000100'), peer('db4', '1/0'), peer('db5', '0/6000000')],
      'db4',
    ],
    ['ahead, but on another timeline', { timeline: 1, position: '0/5000000' }, [peer('db3', '1/0', 2)], undefined],
    ['ahead, timeline unknown', { timeline: null, position: '0/5000000' }, [peer('db3', '0/5000100')], 'db3'],
    [
      'a tie between two ahead: the first listed',
      { timeline: 1, position: '0/5' },
      [peer('db3', '0/9'), peer('db4', '0/9')],
      'db3',
    ],
  ])('%s', (_name, own, peers, expected) => {
    // Act
    const source = catchUpSource(own, peers);
    // Assess
    expect(source?.nodeId).toBe(expected);
  });
});
