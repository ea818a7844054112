// The table part of a status view: read from the persistent mapper at the
// moment status is asked. Other mappers (the tests' fake) have no table.
import type { IdMapper } from '../mapper/mapper.js';
import { StableIdMapper } from '../mapper/stable-mapper.js';
import type { TableView } from './snapshot.js';

export function tableView(mapper: IdMapper): (() => TableView) | undefined {
  if (!(mapper instanceof StableIdMapper)) return undefined;
  return () => ({ where: mapper.table.where, prefixes: mapper.tableData.prefixes.length });
}
