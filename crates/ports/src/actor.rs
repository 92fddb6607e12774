//! Who is calling, and the permission rules of PRODUCT.md §1.
//!
//! One rule everywhere: a caller whose *role* does not allow an operation gets 403 (401 when
//! anonymous); a caller with the right role asking for *someone else's* object gets 404, as if
//! it did not exist, so that ids cannot be probed.

use domain::UserId;

use crate::AppError;

/// Roles, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Guest,
    User,
    Organizer,
    Admin,
}

impl Role {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Guest => "GUEST",
            Self::User => "USER",
            Self::Organizer => "ORGANIZER",
            Self::Admin => "ADMIN",
        }
    }

    /// Parses a role name as it appears in tokens and gateway headers, exactly: `USER`,
    /// `ORGANIZER`, `ADMIN`, or Keycloak's `ROLE_USER`, `ROLE_ORGANIZER`, `ROLE_ADMIN`
    /// (surrounding spaces ignored). Anything else is `None`, never an error: tokens carry
    /// many roles this service does not know.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        let name = name.strip_prefix("ROLE_").unwrap_or(name);
        match name {
            "USER" => Some(Self::User),
            "ORGANIZER" => Some(Self::Organizer),
            "ADMIN" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The caller of a use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    user_id: Option<UserId>,
    role: Role,
}

impl Actor {
    #[must_use]
    pub const fn guest() -> Self {
        Self {
            user_id: None,
            role: Role::Guest,
        }
    }

    /// An authenticated user with the highest of `roles` (USER when none is known).
    #[must_use]
    pub fn authenticated(user_id: UserId, roles: impl IntoIterator<Item = Role>) -> Self {
        let role = roles
            .into_iter()
            .max()
            .unwrap_or(Role::User)
            .max(Role::User);
        Self {
            user_id: Some(user_id),
            role,
        }
    }

    #[must_use]
    pub const fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    #[must_use]
    pub const fn role(&self) -> Role {
        self.role
    }

    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Any signed-in caller.
    pub fn require_authenticated(&self) -> Result<UserId, AppError> {
        self.user_id.ok_or(AppError::Unauthenticated)
    }

    /// A signed-in caller holding one of `roles`.
    pub fn require_role(&self, roles: &[Role], reason: &'static str) -> Result<UserId, AppError> {
        let id = self.require_authenticated()?;
        if roles.contains(&self.role) {
            Ok(id)
        } else {
            Err(AppError::Forbidden { reason })
        }
    }

    /// The caller owns the object, or is an admin. Otherwise the object "does not exist".
    pub fn require_owner(&self, owner: UserId, entity: &'static str) -> Result<UserId, AppError> {
        let id = self.require_authenticated()?;
        if id == owner || self.is_admin() {
            Ok(id)
        } else {
            Err(AppError::NotFound { entity })
        }
    }

    /// Organizer of this event (its creator), or an admin.
    pub fn require_event_manager(&self, creator: UserId) -> Result<UserId, AppError> {
        let id = self.require_role(
            &[Role::Organizer, Role::Admin],
            "only organizers and admins manage events",
        )?;
        if self.is_admin() || id == creator {
            Ok(id)
        } else {
            Err(AppError::NotFound { entity: "event" })
        }
    }

    /// A booking (or its payments) is visible to its owner, the organizer of its event, and
    /// admins.
    pub fn require_booking_reader(
        &self,
        owner: UserId,
        event_creator: UserId,
    ) -> Result<UserId, AppError> {
        let id = self.require_authenticated()?;
        let organizer_of_event = self.role == Role::Organizer && id == event_creator;
        if id == owner || organizer_of_event || self.is_admin() {
            Ok(id)
        } else {
            Err(AppError::NotFound { entity: "booking" })
        }
    }
}

/// The actor plus what the audit log records about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub actor: Actor,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

impl RequestContext {
    #[must_use]
    pub const fn new(actor: Actor) -> Self {
        Self {
            actor,
            request_id: None,
            client_ip: None,
        }
    }

    /// For work the service starts itself (scheduled jobs).
    #[must_use]
    pub fn system(job: &str) -> Self {
        Self {
            actor: Actor::guest(),
            request_id: Some(format!("job:{job}")),
            client_ip: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn uid(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    #[test]
    fn roles_parse_from_tokens_and_headers() {
        assert_eq!(Role::parse("ORGANIZER"), Some(Role::Organizer));
        assert_eq!(Role::parse("ROLE_ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("role_admin"), None);
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(" USER "), Some(Role::User));
        assert_eq!(Role::parse("offline_access"), None);
        assert_eq!(
            Role::parse("GUEST"),
            None,
            "nobody authenticates as a guest"
        );
    }

    #[test]
    fn the_highest_role_wins_and_signed_in_means_at_least_user() {
        assert_eq!(
            Actor::authenticated(uid(1), [Role::User, Role::Admin]).role(),
            Role::Admin
        );
        assert_eq!(Actor::authenticated(uid(1), []).role(), Role::User);
        assert_eq!(
            Actor::authenticated(uid(1), [Role::Guest]).role(),
            Role::User
        );
    }

    #[test]
    fn guests_are_unauthenticated_users_are_forbidden_from_organizer_actions() {
        let roles = [Role::Organizer, Role::Admin];
        assert!(matches!(
            Actor::guest().require_role(&roles, "x"),
            Err(AppError::Unauthenticated)
        ));
        let user = Actor::authenticated(uid(1), [Role::User]);
        assert!(matches!(
            user.require_role(&roles, "x"),
            Err(AppError::Forbidden { .. })
        ));
        let organizer = Actor::authenticated(uid(2), [Role::Organizer]);
        assert_eq!(organizer.require_role(&roles, "x").unwrap(), uid(2));
    }

    #[test]
    fn another_users_object_is_not_found_but_admins_see_everything() {
        let alice = Actor::authenticated(uid(1), [Role::User]);
        assert_eq!(alice.require_owner(uid(1), "booking").unwrap(), uid(1));
        assert!(matches!(
            alice.require_owner(uid(2), "booking"),
            Err(AppError::NotFound { entity: "booking" })
        ));
        let admin = Actor::authenticated(uid(9), [Role::Admin]);
        assert!(admin.require_owner(uid(2), "booking").is_ok());
    }

    #[test]
    fn organizers_manage_only_their_own_events() {
        let org = Actor::authenticated(uid(5), [Role::Organizer]);
        assert!(org.require_event_manager(uid(5)).is_ok());
        assert!(matches!(
            org.require_event_manager(uid(6)),
            Err(AppError::NotFound { .. })
        ));
        let user = Actor::authenticated(uid(5), [Role::User]);
        assert!(matches!(
            user.require_event_manager(uid(5)),
            Err(AppError::Forbidden { .. })
        ));
        let admin = Actor::authenticated(uid(7), [Role::Admin]);
        assert!(admin.require_event_manager(uid(5)).is_ok());
    }

    #[test]
    fn bookings_are_visible_to_owner_event_organizer_and_admin() {
        let (owner, creator) = (uid(1), uid(2));
        assert!(
            Actor::authenticated(owner, [Role::User])
                .require_booking_reader(owner, creator)
                .is_ok()
        );
        assert!(
            Actor::authenticated(creator, [Role::Organizer])
                .require_booking_reader(owner, creator)
                .is_ok()
        );
        assert!(
            Actor::authenticated(uid(3), [Role::Organizer])
                .require_booking_reader(owner, creator)
                .is_err()
        );
        assert!(
            Actor::authenticated(uid(3), [Role::User])
                .require_booking_reader(owner, creator)
                .is_err()
        );
        assert!(
            Actor::authenticated(uid(4), [Role::Admin])
                .require_booking_reader(owner, creator)
                .is_ok()
        );
        assert!(matches!(
            Actor::guest().require_booking_reader(owner, creator),
            Err(AppError::Unauthenticated)
        ));
    }
}
