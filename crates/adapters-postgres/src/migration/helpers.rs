//! Small builders shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, timestamp_with_time_zone};

/// `CHECK (expr)` written once for both backends.
pub fn check(sql: &str) -> Expr {
    Expr::cust(sql.to_owned())
}

/// A status column with the allowed values as a CHECK constraint.
pub fn status_check(column: &str, values: &[&str]) -> Expr {
    let list = values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ");
    check(&format!("{column} IN ({list})"))
}

/// A named foreign key `table.column → target.id`.
pub fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(on_delete)
        .to_owned()
}

/// `created_at`/`updated_at` as timestamps with time zone.
pub fn created_at() -> ColumnDef {
    timestamp_with_time_zone("created_at")
}

pub fn updated_at() -> ColumnDef {
    timestamp_with_time_zone("updated_at")
}

/// A bounded text column.
pub fn varchar(name: &'static str, len: u32) -> ColumnDef {
    string_len(name, len)
}

/// Runs raw statements that are the same on every backend (partial indexes).
pub async fn run_sql(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for sql in statements {
        conn.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Drops tables, last created first.
pub async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
