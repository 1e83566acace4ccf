//! Rate-limit keys: `action:dimension:value`, one builder per limited action, so that every
//! replica and the Redis tier count the same client under the same key.

use std::net::IpAddr;

use crate::identity::Email;

/// The address as a rate-limit dimension: IPv4 (and IPv4-mapped IPv6) as the IPv4 address,
/// other IPv6 addresses as their /64 network — one subscriber usually holds a whole /64, so
/// counting single IPv6 addresses would let a client rotate through 2^64 of them.
#[must_use]
pub fn address_dimension(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// The key limiting logins from one address: `login:ip:{ip}`.
///
/// IPv4-mapped IPv6 addresses are keyed as the IPv4 address they map, so one client is counted
/// once whichever way its address reaches us; IPv6 addresses by their /64
/// ([`address_dimension`]).
#[must_use]
pub fn login_ip_key(ip: IpAddr) -> String {
    format!("login:ip:{}", address_dimension(ip))
}

/// The key limiting logins to one account: `login:email:{email}` (the normalized address).
#[must_use]
pub fn login_email_key(email: &Email) -> String {
    format!("login:email:{}", email.as_str())
}

/// The key limiting registrations from one address: `register:ip:{ip}`.
///
/// IPv4-mapped IPv6 addresses are keyed as the IPv4 address they map; IPv6 addresses by their
/// /64 ([`address_dimension`]).
#[must_use]
pub fn register_ip_key(ip: IpAddr) -> String {
    format!("register:ip:{}", address_dimension(ip))
}

/// The key limiting password-reset requests for one address: `password-forgot:email:{email}`.
#[must_use]
pub fn password_forgot_email_key(email: &Email) -> String {
    format!("password-forgot:email:{}", email.as_str())
}

/// The key limiting one-time-code requests for one address: `otp:email:{email}`.
#[must_use]
pub fn otp_email_key(email: &Email) -> String {
    format!("otp:email:{}", email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_design() {
        let email = Email::parse(" Ana@Example.COM ").unwrap();
        assert_eq!(login_email_key(&email), "login:email:ana@example.com");
        assert_eq!(
            password_forgot_email_key(&email),
            "password-forgot:email:ana@example.com"
        );
        assert_eq!(otp_email_key(&email), "otp:email:ana@example.com");
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(login_ip_key(mapped), "login:ip:203.0.113.9");
        assert_eq!(
            register_ip_key("2001:db8::1".parse().unwrap()),
            "register:ip:2001:db8::/64"
        );
        assert_eq!(
            login_ip_key("2001:db8:0:0:ffff:1:2:3".parse().unwrap()),
            login_ip_key("2001:db8::9".parse().unwrap()),
            "one /64, one client"
        );
        assert_ne!(
            login_ip_key("2001:db8:0:1::1".parse().unwrap()),
            login_ip_key("2001:db8::1".parse().unwrap())
        );
    }
}
