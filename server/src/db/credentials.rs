//! Queries on `credentials`. Every query is scoped by tenant.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{crypto::Sealed, schema::credentials};

/// A credential row; the token only as ciphertext.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = credentials)]
pub struct Credential {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub jira_url: String,
    pub email: String,
    pub token_ciphertext: Vec<u8>,
    pub token_nonce: Vec<u8>,
    pub token_key_id: String,
    pub token_updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Credential {
    /// The sealed token, for the cipher.
    pub fn sealed_token(&self) -> Sealed {
        Sealed {
            ciphertext: self.token_ciphertext.clone(),
            nonce: self.token_nonce.clone(),
            key_id: self.token_key_id.clone(),
        }
    }
}

/// Fields of a new credential.
pub struct NewCredential<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub jira_url: &'a str,
    pub email: &'a str,
    pub token: &'a Sealed,
}

/// Inserts a credential.
pub async fn insert(conn: &mut AsyncPgConnection, new: NewCredential<'_>) -> QueryResult<Credential> {
    diesel::insert_into(credentials::table)
        .values((
            credentials::id.eq(new.id),
            credentials::tenant_id.eq(new.tenant_id),
            credentials::name.eq(new.name),
            credentials::jira_url.eq(new.jira_url),
            credentials::email.eq(new.email),
            credentials::token_ciphertext.eq(&new.token.ciphertext),
            credentials::token_nonce.eq(&new.token.nonce),
            credentials::token_key_id.eq(&new.token.key_id),
        ))
        .returning(Credential::as_returning())
        .get_result(conn)
        .await
}

/// One credential of a tenant.
pub async fn find(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<Option<Credential>> {
    credentials::table
        .filter(credentials::tenant_id.eq(tenant_id))
        .filter(credentials::id.eq(id))
        .select(Credential::as_select())
        .first(conn)
        .await
        .optional()
}

/// The same, locked for update until the transaction ends.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<Credential>> {
    credentials::table
        .filter(credentials::tenant_id.eq(tenant_id))
        .filter(credentials::id.eq(id))
        .select(Credential::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// A page of a tenant's credentials in id (creation) order.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Credential>> {
    let mut query = credentials::table
        .filter(credentials::tenant_id.eq(tenant_id))
        .select(Credential::as_select())
        .order(credentials::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(credentials::id.gt(after));
    }
    query.load(conn).await
}

/// Changes to a credential; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = credentials)]
pub struct Changes {
    pub name: Option<String>,
    pub jira_url: Option<String>,
    pub email: Option<String>,
    pub token_ciphertext: Option<Vec<u8>>,
    pub token_nonce: Option<Vec<u8>>,
    pub token_key_id: Option<String>,
    pub token_updated_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Applies `changes` to a tenant's credential.
pub async fn update(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    changes: &Changes,
) -> QueryResult<Credential> {
    diesel::update(credentials::table.filter(credentials::tenant_id.eq(tenant_id)).filter(credentials::id.eq(id)))
        .set(changes)
        .returning(Credential::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a tenant's credential; false when there was none.
pub async fn delete(conn: &mut AsyncPgConnection, tenant_id: Uuid, id: Uuid) -> QueryResult<bool> {
    let n =
        diesel::delete(credentials::table.filter(credentials::tenant_id.eq(tenant_id)).filter(credentials::id.eq(id)))
            .execute(conn)
            .await?;
    Ok(n > 0)
}
