//! A customer's address book: the addresses they ship to, one of them the default that the
//! checkout form starts from. Addresses are checked by the same rule as the checkout's
//! ([`orders::parse_address`]), so a saved address is always one a checkout accepts. A book
//! holds at most [`MAX_ADDRESSES`], so every loop over one is short.

use serde::{Deserialize, Serialize};

use super::types::{AuthError, Principal};
use super::{Auth, live_customer};
use crate::core::{AddressId, CustomerId, Timestamp};
use crate::domain::orders::{self, Address, AddressInput};
use crate::storage::{Order as ScanOrder, Reader, StorageError, Table, Value, WriteTx};

/// How many addresses one account keeps.
pub const MAX_ADDRESSES: usize = 20;

/// A stored address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SavedAddress {
    /// Id (`adr_…`).
    pub id: AddressId,
    /// The address.
    pub address: Address,
    /// The one the checkout starts from.
    pub is_default: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
impl Value for SavedAddress {}

pub(super) const ADDRESSES: Table<(CustomerId, AddressId), SavedAddress> =
    Table::new("auth_addresses");

/// An address as the API and the account page show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AddressView {
    /// Id (`adr_…`).
    #[schema(value_type = String)]
    pub id: AddressId,
    /// The address.
    #[serde(flatten)]
    pub address: Address,
    /// Whether the checkout starts from this one.
    pub is_default: bool,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<SavedAddress> for AddressView {
    fn from(a: SavedAddress) -> Self {
        AddressView {
            id: a.id,
            address: a.address,
            is_default: a.is_default,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Every address of `customer`, the default first, then oldest first.
fn book(r: &impl Reader, customer: CustomerId) -> Result<Vec<SavedAddress>, StorageError> {
    let mut rows: Vec<SavedAddress> = r
        .prefix(
            &ADDRESSES,
            &customer,
            None,
            ScanOrder::Asc,
            MAX_ADDRESSES + 1,
        )?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    rows.sort_by_key(|a| (!a.is_default, a.id));
    Ok(rows)
}

/// Removes every address of `customer` (account deletion erases them with the account).
pub(super) fn erase(tx: &mut WriteTx<'_>, customer: CustomerId) -> Result<(), StorageError> {
    for a in book(tx, customer)? {
        tx.remove(&ADDRESSES, &(customer, a.id))?;
    }
    Ok(())
}

/// Checks `input` the way the checkout does, answering every bad field at once.
fn checked(input: &AddressInput) -> Result<Address, AuthError> {
    let mut issues = Vec::new();
    let a = orders::parse_address("address", input, &mut issues);
    if issues.is_empty() {
        Ok(a)
    } else {
        Err(AuthError::Fields(issues))
    }
}

/// Makes `id` the only default of `customer`'s book.
fn only_default(
    tx: &mut WriteTx<'_>,
    customer: CustomerId,
    id: AddressId,
) -> Result<(), StorageError> {
    for mut a in book(tx, customer)? {
        if a.is_default && a.id != id {
            a.is_default = false;
            tx.insert(&ADDRESSES, &(customer, a.id), &a)?;
        }
    }
    Ok(())
}

impl Auth {
    fn owner(&self, p: &Principal) -> Result<CustomerId, AuthError> {
        // API keys act for the shop, not for a person: they have no address book.
        p.customer_id().ok_or(AuthError::Forbidden)
    }

    /// The caller's addresses, the default first.
    pub fn addresses(&self, p: &Principal) -> Result<Vec<AddressView>, AuthError> {
        let me = self.owner(p)?;
        let r = self.inner.store.read()?;
        Ok(book(&r, me)?.into_iter().map(AddressView::from).collect())
    }

    /// The caller's default address, to start a checkout form from.
    pub fn default_address(&self, p: &Principal) -> Result<Option<Address>, AuthError> {
        let Some(me) = p.customer_id() else {
            return Ok(None);
        };
        let r = self.inner.store.read()?;
        Ok(book(&r, me)?
            .into_iter()
            .find(|a| a.is_default)
            .map(|a| a.address))
    }

    /// Saves a new address; the first one, or one marked so, becomes the default. An address
    /// equal to a saved one is not saved twice: the saved one answers (made default if asked).
    pub async fn add_address(
        &self,
        p: &Principal,
        input: &AddressInput,
        is_default: bool,
    ) -> Result<AddressView, AuthError> {
        let me = self.owner(p)?;
        let address = checked(input)?;
        self.inner
            .store
            .write(move |tx| {
                live_customer(tx, me)?.ok_or(AuthError::Unauthenticated)?;
                let existing = book(tx, me)?;
                if let Some(mut same) = existing.iter().find(|a| a.address == address).cloned() {
                    if is_default && !same.is_default {
                        same.is_default = true;
                        same.updated_at = tx.now();
                        only_default(tx, me, same.id)?;
                        tx.insert(&ADDRESSES, &(me, same.id), &same)?;
                    }
                    return Ok(AddressView::from(same));
                }
                if existing.len() >= MAX_ADDRESSES {
                    return Err(AuthError::AddressBookFull);
                }
                let now = tx.now();
                let a = SavedAddress {
                    id: AddressId::new(now),
                    address,
                    is_default: is_default || existing.is_empty(),
                    created_at: now,
                    updated_at: now,
                };
                if a.is_default {
                    only_default(tx, me, a.id)?;
                }
                tx.insert(&ADDRESSES, &(me, a.id), &a)?;
                Ok(AddressView::from(a))
            })
            .await
    }

    /// Replaces one of the caller's addresses (others' ids are "not found").
    pub async fn update_address(
        &self,
        p: &Principal,
        id: AddressId,
        input: &AddressInput,
        is_default: bool,
    ) -> Result<AddressView, AuthError> {
        let me = self.owner(p)?;
        let address = checked(input)?;
        self.inner
            .store
            .write(move |tx| {
                let mut a = tx.get(&ADDRESSES, &(me, id))?.ok_or(AuthError::NotFound)?;
                a.address = address;
                // The default moves by marking another one; unmarking the only default keeps it.
                a.is_default = a.is_default || is_default;
                a.updated_at = tx.now();
                if a.is_default {
                    only_default(tx, me, id)?;
                }
                tx.insert(&ADDRESSES, &(me, id), &a)?;
                Ok(AddressView::from(a))
            })
            .await
    }

    /// Removes one of the caller's addresses; if it was the default, the oldest left takes over.
    pub async fn remove_address(&self, p: &Principal, id: AddressId) -> Result<(), AuthError> {
        let me = self.owner(p)?;
        self.inner
            .store
            .write(move |tx| {
                let gone = tx.get(&ADDRESSES, &(me, id))?.ok_or(AuthError::NotFound)?;
                tx.remove(&ADDRESSES, &(me, id))?;
                if gone.is_default
                    && let Some(mut next) = book(tx, me)?.into_iter().next()
                {
                    next.is_default = true;
                    tx.insert(&ADDRESSES, &(me, next.id), &next)?;
                }
                Ok(())
            })
            .await
    }
}

/// The auth module's schema step for the address book: a new table, nothing to convert; the
/// step exists so an older build refuses a data dir that holds addresses it would not erase.
pub fn migrate_address_book(_tx: &mut WriteTx<'_>) -> Result<(), StorageError> {
    Ok(())
}
