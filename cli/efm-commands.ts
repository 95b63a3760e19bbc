// Migration from EFM and its checks: import-efm (properties to an agent config and setup commands) and
// check-config (EFM's prop-check and node-check: one node's config against the cluster and its database).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { importEfm } from '../core/efm-import.ts';
import { nodeIdSchema } from '../core/records.ts';
import { runConfigChecks } from './config-checks.ts';
import { out, validated } from './cli-support.ts';
import { verdictExit } from '../core/exit-codes.ts';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

export function addEfmCommands(program: Command): void {
  program
    .command('import-efm')
    .summary('an EFM properties file to an agent config and setup commands')
    .description(
      "read an EFM cluster's properties file (and its .nodes file) into a pgfailover agent config and the commands " +
        'that set up the cluster; lists every property with what it became, or why it was ignored',
    )
    .argument(
      '<properties>',
      'the EFM properties file, e.g. /etc/edb/efm-4.x/efm.properties (its name is the cluster name)',
    )
    .argument('[nodes]', 'the EFM nodes file, e.g. efm.nodes: its addresses become allow-node commands')
    .option('--node-id <id>', "this node's id (default: from bind.address)", validated(nodeIdSchema, 'node id'))
    .option('--out-dir <dir>', 'write agent.json and cluster-setup.sh there (never over existing files)')
    .option('--json', 'print the whole result as JSON')
    .action(
      (
        propertiesPath: string,
        nodesPath: string | undefined,
        options: { nodeId?: string; outDir?: string; json?: boolean },
      ) => {
        const result = importEfm(
          propertiesPath,
          readText(propertiesPath, 'the EFM properties file'),
          nodesPath ? readText(nodesPath, 'the EFM nodes file') : undefined,
          options.nodeId,
        );
        const configText = `${JSON.stringify(result.agentConfig, null, 2)}\n`;
        const script = `#!/bin/sh\n# Cluster ${result.cluster}, imported from ${propertiesPath}\nset -e\n${result.commands.join('\n')}\n`;
        if (options.outDir) {
          mkdirSync(options.outDir, { recursive: true });
          for (const name of ['agent.json', 'cluster-setup.sh'])
            if (existsSync(join(options.outDir, name)))
              throw new UsageError(
                `${join(options.outDir, name)} exists; import-efm never overwrites: choose another --out-dir`,
              );
          writeFileSync(join(options.outDir, 'agent.json'), configText, { mode: 0o640 });
          writeFileSync(join(options.outDir, 'cluster-setup.sh'), script, { mode: 0o755 });
        }
        if (options.json) {
          out(JSON.stringify(result, null, 2));
          return;
        }
        const lines = [
          `EFM cluster ${result.cluster} -> pgfailover cluster ${result.cluster}, node ${result.nodeId}`,
          '',
          'Mapped:',
          ...result.mapped.map((m) => `  ${m.property} = ${m.value}  ->  ${m.to}`),
          '',
          'Ignored:',
          ...(result.ignored.length ? result.ignored.map((i) => `  ${i.property}: ${i.why}`) : ['  (none)']),
          '',
          'Unknown (not an EFM property this importer knows; check the spelling):',
          ...(result.unknown.length ? result.unknown.map((u) => `  ${u.property} = ${u.value}`) : ['  (none)']),
          '',
          'Still to do:',
          ...result.todo.map((t) => `  - ${t}`),
          '',
          options.outDir
            ? `Wrote ${join(options.outDir, 'agent.json')} and ${join(options.outDir, 'cluster-setup.sh')}; check the config with: pgfailover check-config --config ${join(options.outDir, 'agent.json')}`
            : `Agent config:\n${configText}\nCluster setup:\n${result.commands.map((c) => `  ${c}`).join('\n')}`,
        ];
        out(lines.join('\n'));
      },
    );

  program
    .command('check-config')
    .summary("check a node's config against the cluster, its database and files (EFM prop-check)")
    .description(
      "EFM's prop-check and node-check: checks one node's agent config, its place in the cluster's record, the " +
        'database it points at, and the files and scripts it names; exit 0 when all pass, 1 when any fails',
    )
    .requiredOption('--config <file>', 'the agent configuration to check')
    .option('--json', 'print the checks as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      const checks = await runConfigChecks(options.config);
      const failed = checks.filter((check) => check.status === 'FAIL');
      if (options.json) out(JSON.stringify({ ok: failed.length === 0, checks }, null, 2));
      else
        out(
          [
            ...checks.map((check) => `${check.status.padEnd(4)}  ${check.name}: ${check.detail}`),
            '',
            failed.length === 0 ? 'all checks passed' : `${failed.length} check(s) failed`,
          ].join('\n'),
        );
      process.exitCode = verdictExit(failed.length === 0);
    });
}
