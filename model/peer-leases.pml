/*
 * pgfailover: a primary keeps serving through a state-store outage on its peers' word (issue 24).
 * docs/peer-leases.md maps every variable and action here to the design and to the code.
 *
 * One term's primary P, the three other voting members (two standbys and the witness), two evaluators and
 * the state store, on an unbounded timeline of whole ticks. Times are kept relative (ticks left, ticks
 * since), so the state space is finite without a horizon. Every store operation may fail (an outage of any
 * length, for anyone), every message may be lost or delayed, any process may pause for any time (it is not
 * scheduled) or for ever (a crash), and every clock may run a tick fast or slow over a lease or a vouch.
 *
 * Safety (proctype never_two): P is never writable while a new term's primary exists.
 *
 * The rules under test; each variant switches one off and must produce the counterexample it prevents:
 *  - BOUND (-DNO_BOUND): a member that voted the primary down may vouch for it again only after
 *    withdrawing that vote with a write to the cluster record, which a failover write in flight is
 *    conditioned on, and which is refused once the term has moved.
 *  - SEND_TIME (-DRECEIVE_TIME): the holder counts a vouch from when it asked, not from when the answer came.
 *  - MARGIN (-DNO_MARGIN): the holder counts a vouch MP ticks shorter than granted (the granter's clock may
 *    run fast, the holder's slow, and the grant is made after the request was sent).
 *  - PERSISTED (-DFORGETFUL): what a member promised and how it voted survive a restart of its agent.
 *  - RELEASE_FIRST (-DSWITCHOVER, and -DEARLY_SWITCHOVER to break it): a switchover's new term is written only once the old primary has
 *    stopped cleanly and released its lease (a write it makes after its server is down, which also ends its
 *    counting of vouches: agent/lease-keeper.ts drop()); written on the request alone, it meets a primary
 *    still writable on its vouches.
 *  A candidate that does not promote is replaced by a new term decided like a failover: the candidate plays
 *  the primary of this model, one term later.
 *  (-DONE_EVALUATOR runs one evaluator: with -DSPLIT_READS two would take minutes and gigabytes.)
 *  - READ_ORDER (-DVOTES_FIRST), with -DSPLIT_READS: the evaluator reads the record (its version) and then
 *    each member's vote, each read a step of its own, and a withdrawal is two writes (the heartbeat, then
 *    the record). Reading the votes first lets a withdrawn vote be counted under the version the withdrawal
 *    wrote (one DynamoDB Query promises no order among its items: the evaluator reads the record alone
 *    first, lambdas/evaluator/evaluator.ts judgeAfterRecord).
 */

#ifndef NV
#define NV 3                  /* voting members besides the primary: two standbys and the witness */
#endif
#define MAJ ((NV + 1) / 2 + 1) /* a strict majority of the NV + 1 voting members (the primary counts itself) */
#define L 3                   /* the store lease, ticks */
#define D 4                   /* a vouch, ticks of the granter's clock */
#ifdef NO_MARGIN
#define MP 0
#else
#define MP 2                  /* the holder's margin on a vouch */
#endif

/* The state store: the cluster record and the members' latest heartbeats. */
bool sFailedOver = false;     /* a failover's write won: term 2 has another primary */
byte sLeaseLeft = L + 1;      /* ticks until the evaluators count the store lease as over */
bool counted[NV];             /* the member's down vote: in its latest heartbeat and not withdrawn */
bool stale[2];                /* the cluster record was written (a renewal, a withdrawal) since evaluator e read it */
bool sSwitchover = false;     /* an administrator asked for a switchover (the record's demoting phase) */
bool sReleased = false;       /* the primary released its lease after its clean stop */

/* The primary. */
bool pStopped = false;        /* it fenced itself (or saw the new term): never writable again in this term */
byte pLeaseLeft = L - 1;      /* ticks its own view of the store lease has left, less its margin */
byte grantLeft[NV];           /* ticks it still counts each member's vouch */
bit round = 0;                /* its current round of vouch requests */
byte askAge = D;              /* ticks since it sent that round (saturates at D) */

/* Messages in flight, one per member and direction: 0 none, 1 + the round they belong to. */
byte req[NV];
byte ans[NV];

/* The members' own state, global so that the clock can count their promises down. */
byte promiseLeft[NV];         /* ticks before the member may vote the primary down again */
bool bound[NV];               /* it voted the primary down and has not withdrawn the vote */
#ifdef SPLIT_READS
bool withdrawing[NV];         /* its heartbeat without the down vote is written; the record's bump is not yet */
#endif

#if NV == 3
#define VOUCHES ((grantLeft[0] > 0) + (grantLeft[1] > 0) + (grantLeft[2] > 0))
#define DOWN_VOTES (counted[0] + counted[1] + counted[2])
#define ANSWERED (ans[0] != 0 || ans[1] != 0 || ans[2] != 0)
#else
#define VOUCHES ((grantLeft[0] > 0) + (grantLeft[1] > 0))
#define DOWN_VOTES (counted[0] + counted[1])
#define ANSWERED (ans[0] != 0 || ans[1] != 0)
#endif
#define P_VALID (pLeaseLeft > 0 || 1 + VOUCHES >= MAJ)
#define P_WRITABLE (!pStopped && P_VALID)

inline down(var) {
  if
  :: var > 0 -> var--
  :: else -> skip
  fi
}

inline touch_record() {
  stale[0] = true; stale[1] = true
}

/* The safety property, in every reachable state: the monitor can step exactly where it is violated. */
active proctype never_two() {
end:
  atomic { P_WRITABLE && sFailedOver -> assert(false) }
}

/* Time: a tick, and with it the primary's fence timer, which fires the moment its lease and its vouches
   have all run out (the real fence leads by FENCE_LEAD_MS, inside the margins). */
active proctype clock() {
  byte v;
end:
  do
  :: d_step {
       down(sLeaseLeft); down(pLeaseLeft);
       if :: askAge < D -> askAge++ :: else -> skip fi;
       for (v : 0 .. NV - 1) { down(grantLeft[v]); down(promiseLeft[v]) };
       v = 0;
       if :: !P_VALID -> pStopped = true :: else -> skip fi
     }
  od
}

active proctype primary() {
  byte v, left;
end:
  do
  :: pStopped -> break
  /* Store lease renewal, conditional on the term; its answer may be lost. */
  :: atomic { !pStopped && !sFailedOver ->
       sLeaseLeft = L + 1; touch_record();
       pLeaseLeft = L - 1 /* its clock runs slow: the longest it may count (a lost answer only shortens it) */
     }
  /* A new round of vouch requests; each request may be lost. */
  :: atomic { !pStopped ->
       round = 1 - round; askAge = 0;
       /* Answers to earlier rounds are never counted (the real requests carry a nonce). */
       for (v : 0 .. NV - 1) { ans[v] = 0 };
       for (v : 0 .. NV - 1) {
         if
         :: req[v] = 1 + round
         :: skip
         fi
       };
       v = 0
     }
  /* An answer of the current round: counted from when the round was sent (or, in the unsafe variant, from
     its arrival), less the margin. An answer of an older round is dropped. */
  :: atomic { !pStopped && ANSWERED ->
       if
       :: ans[0] != 0 -> v = 0
       :: ans[1] != 0 -> v = 1
#if NV == 3
       :: ans[2] != 0 -> v = 2
#endif
       fi;
       if
       :: ans[v] == 1 + round ->
#ifdef RECEIVE_TIME
          left = D - MP - 1;
#else
          left = D - MP - 1 - askAge;
#endif
          left++; /* its clock runs slow: the longest it may count */
          if :: left > 200 -> left = 0 :: else -> skip fi; /* byte underflow: nothing left */
          if :: left > grantLeft[v] -> grantLeft[v] = left :: else -> skip fi
       :: else -> skip
       fi;
       ans[v] = 0; v = 0; left = 0
     }
  /* It reads the store and sees the new term. */
  :: atomic { sFailedOver -> pStopped = true }
  /* A switchover: it learns the demoting goal (from a renewal or a heartbeat), stops its server cleanly and
     gives the lease up (it counts no vouch from then on), then says so in the store. */
#ifdef SWITCHOVER
  :: atomic { sSwitchover && !pStopped -> pStopped = true }
  :: atomic { sSwitchover && pStopped && !sReleased && !sFailedOver -> sReleased = true; touch_record() }
#endif
  od
  /* A crash or a pause is a primary that is never scheduled again; its fence timer (in clock) still fires. */
}

proctype member(byte v) {
end:
  do
  /* Its check of the primary fails: a down vote, unless it has promised otherwise. */
  :: atomic { promiseLeft[v] == 0 ->
#ifndef NO_BOUND
       bound[v] = true;
#endif
       counted[v] = true /* (a heartbeat that does not reach the store only removes a vote) */
     }
#ifdef SPLIT_READS
  /* A bound member's withdrawal, two writes: first a heartbeat without the down vote, ... */
  :: atomic { req[v] != 0 && bound[v] && !withdrawing[v] && !sFailedOver -> counted[v] = false; withdrawing[v] = true }
  /* ... then the record's version, refused once the term has moved (it then stays bound). A down vote
     written meanwhile stands: the member stays bound (agent/peer/voucher.ts counts its binds). */
  :: atomic { withdrawing[v] ->
       if
       :: !sFailedOver -> touch_record(); if :: !counted[v] -> bound[v] = false :: else -> skip fi
       :: else -> skip
       fi;
       withdrawing[v] = false
     }
#endif
  /* A vouch request. A bound member withdraws its vote first: a write of the cluster record, refused once
     the term has moved, that may fail; it vouches only once that write has won. */
#ifdef SPLIT_READS
  :: atomic { req[v] != 0 && !withdrawing[v] && !(bound[v] && !sFailedOver) -> /* withdrawn first (above) */
#else
  :: atomic { req[v] != 0 ->
#endif
       if
       :: bound[v] && !sFailedOver -> counted[v] = false; touch_record(); bound[v] = false
       :: else -> skip /* (a withdrawal that fails only leaves it bound, refusing) */
       fi;
       if
       :: !bound[v] ->
          /* Its clock runs fast: the promise ends a tick early, the shortest it may keep. */
          if :: promiseLeft[v] < D - 1 -> promiseLeft[v] = D - 1 :: else -> skip fi;
          if
          :: ans[v] = req[v]
          :: skip /* lost */
          fi
       :: else -> skip /* refuses: it cannot withdraw its vote now */
       fi;
       req[v] = 0
     }
#ifdef FORGETFUL
  /* A restart of its agent that forgets what it promised and how it voted (the real agent keeps both in
     its state file, so there a restart changes nothing and is not modelled). */
  :: atomic { promiseLeft[v] = 0; bound[v] = false }
#endif
  od
  /* A crash is a member never scheduled again, which every schedule already includes. */
}

#ifdef SWITCHOVER
/* An administrator's switchover request: a write of the record (the demoting phase). */
active proctype administrator() {
  atomic { !sFailedOver -> sSwitchover = true; touch_record() }
}
#endif

/* An evaluator: reads, decides, and writes the failover conditional on the record it read. */
proctype evaluator(byte e) {
  bool decided;
#ifdef SPLIT_READS
  byte seen, w;
  bool over;
#endif
end:
  do
#ifdef SPLIT_READS
  :: seen = 0;
#ifndef VOTES_FIRST
     atomic { stale[e] = false; over = !sFailedOver && sLeaseLeft == 0 };
#endif
     /* Each vote read at its own moment. */
     for (w : 0 .. NV - 1) { atomic { seen = seen + counted[w] } };
#ifdef VOTES_FIRST
     atomic { stale[e] = false; over = !sFailedOver && sLeaseLeft == 0 };
#endif
     decided = over && seen >= MAJ; seen = 0; w = 0; over = false;
#else
  :: atomic {
       stale[e] = false;
       decided = !sFailedOver && sLeaseLeft == 0 && DOWN_VOTES >= MAJ
     };
#endif
     /* ... the decision in flight: anything may happen before its write ... */
     if
     :: decided ->
        if
        :: atomic { !stale[e] -> sFailedOver = true; touch_record(); decided = false }
        :: else -> decided = false /* refused: it reads again */
        fi
     :: else -> skip
     fi
  /* The switchover's new term: once the old primary released its lease (or, unsafely, on the request). */
#ifdef SWITCHOVER
#ifdef EARLY_SWITCHOVER
  :: atomic { sSwitchover && !sFailedOver && !stale[e] -> sFailedOver = true; touch_record() }
#else
  :: atomic { sReleased && !sFailedOver -> sFailedOver = true; touch_record() }
#endif
#endif
  od
}

init {
  atomic {
    run member(0); run member(1);
#if NV == 3
    run member(2);
#endif
    run evaluator(0);
#ifndef ONE_EVALUATOR
    run evaluator(1)
#endif
  }
}
