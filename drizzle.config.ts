// drizzle-kit: `npm run db:generate` turns src/store/sqlite/schema.ts into a new migration under drizzle/sqlite/.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/store/sqlite/schema.ts',
  out: './drizzle/sqlite',
});
