// A database that already holds another application's tables is refused before any migration touches it:
// creating eventbus's tables beside them, or failing halfway on a table of the same name, would change a
// database that is not the broker's. A database whose tables include drizzle's migrations table is one the
// broker made; an empty one is taken.

/** The table drizzle's migrator keeps its record in, in every database (or schema) the broker made. */
const MIGRATIONS_TABLE = '__drizzle_migrations';
const SHOWN = 5;

/** The refusal for a database holding `tables`, or undefined when the broker may use it. */
export function foreignTablesProblem(tables: readonly string[], where: string): string | undefined {
  if (tables.length === 0 || tables.includes(MIGRATIONS_TABLE)) return undefined;
  const more = tables.length > SHOWN ? `, and ${tables.length - SHOWN} more` : '';
  return `EVENTBUS_DB: ${where} holds tables that are not eventbus's (${tables.slice(0, SHOWN).join(', ')}${more}); give the broker a file, schema or database of its own`;
}
