import type { Runtime } from './runtime';
import type { PatientTableStore } from './adapters/tableStorage/PatientTableStore';
import type { ProjectionHost } from './localProjections';
import { metaTable } from '../projections/projectionCatalog';

export interface StorageSupervisionOptions {
  patient: PatientTableStore;
  projections: ProjectionHost;
  tablePrefix: string;
  /** True once the service stops: the projectors are not started again then. */
  stopping: () => boolean;
  log: (line: string) => void;
}

/**
 * What the service does when its embedded Azurite dies and is started again (see
 * SupervisedAzurite): the restarted Azurite has what it had saved last (it saves its database
 * every few seconds, writes and checkpoints together), so the projectors must not go on from their
 * memory. Before the restart the projectors' store is held (every call fails at once) and the
 * projectors stop; after it, the tables are created again where they were lost, and the projectors
 * start again from their stored checkpoints and fold the log from there: what was acknowledged
 * meanwhile (it is in the log) reaches the tables. Nothing here with TABLES_CONNECTION_STRING.
 */
export function superviseStorage(rt: Runtime, options: StorageSupervisionOptions): void {
  const { patient, projections, log } = options;
  rt.storage?.supervise({
    beforeRestart: async (reason) => {
      patient.hold(`${reason}; the projectors start again from their stored checkpoints`);
      await projections.stop();
    },
    afterRestart: async () => {
      rt.tables.forgetTables();
      patient.resume();
      if (options.stopping()) return;
      await rt.tables.rowTable(metaTable(options.tablePrefix)); // the versions and checkpoints live there
      await projections.start();
      log('the projectors started again from their stored checkpoints');
    },
  });
}
