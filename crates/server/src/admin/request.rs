//! The parts of an admin request the endpoints look at.

pub struct Request {
    pub method: String,
    /// Without the query.
    pub path: String,
    /// The `Authorization` field's value, if sent.
    pub authorization: Option<String>,
}
