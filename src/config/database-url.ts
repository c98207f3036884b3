// What EVENTBUS_DB names: a SQLite file, or a PostgreSQL database by its URL. A URL of any other scheme is a
// mistake, and a URL is shown without its password wherever it is repeated.

// A URL's scheme, two characters or more (one would be a drive letter elsewhere).
export const URL_SCHEME = /^([a-z][a-z0-9+.-]+):/i;

/** What EVENTBUS_DB cannot be: a PostgreSQL URL that is not whole, or a URL of another scheme; else undefined. */
export function dbProblem(db: string): string | undefined {
  if (isPostgresUrl(db)) return postgresUrlProblem(db);
  const scheme = URL_SCHEME.exec(db)?.[1];
  if (scheme === undefined) return undefined;
  if (/^postgres(?:ql)?$/i.test(scheme)) return 'expected postgres://user[:password]@host[:port]/database';
  return `a ${scheme}: URL is neither a SQLite file nor postgres://user[:password]@host[:port]/database (a file whose name begins so: write ./ before it)`;
}

/** Whether EVENTBUS_DB names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** A URL (PostgreSQL's, or one EVENTBUS_DB was given by mistake) without its password, for messages and logs. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return `${URL_SCHEME.exec(url)?.[1] ?? 'postgres'}://…`;
  }
}

/** What is wrong with a PostgreSQL URL, or undefined. */
function postgresUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected postgres://user[:password]@host[:port]/database';
  }
  if (u.hostname === '') return 'the PostgreSQL URL names no host: expected postgres://user[:password]@host[:port]/database';
  if (u.pathname.length <= 1) return 'the PostgreSQL URL names no database: expected postgres://user[:password]@host[:port]/database';
  return undefined;
}
