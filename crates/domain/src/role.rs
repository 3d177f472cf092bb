use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Doctor,
    Receptionist,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Patient, Role::Doctor, Role::Receptionist, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Doctor => "doctor",
            Role::Receptionist => "receptionist",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    /// Staff act for the clinic rather than for themselves.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Receptionist | Role::Admin)
    }
}

/// Whether an account may act. A self-registered doctor is `Pending` until an admin
/// approves; a deactivated account keeps its history but can do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Pending,
    Active,
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(value: &str) -> Option<UserStatus> {
        [
            UserStatus::Pending,
            UserStatus::Active,
            UserStatus::Deactivated,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }
}
