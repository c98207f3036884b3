// drizzle-kit for the PostgreSQL store: `npm run db:generate` turns src/store/postgres/schema.ts into a new
// migration under drizzle/postgres/.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './drizzle/postgres',
});
