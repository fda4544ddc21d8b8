//! Reading the cookies a request carries (the pages' anti-forgery and session cookies, the API's
//! refresh cookie).

use poem::http::header;
use poem::Request;

/// The value of the request's cookie `name`, if it sent one.
pub(crate) fn read(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}
