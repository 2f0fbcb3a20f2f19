/** Injection token of the DatabaseConnection (TypeORM DataSource and the `pg` pool beside it). */
export const DATABASE_CONNECTION = Symbol('DATABASE_CONNECTION');
