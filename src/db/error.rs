//! Which database errors are worth trying again, read from their SQLSTATE (`SqlState`
//! constants), never from message text, except for the one case the driver forces: its own
//! connection failures and timeouts carry no SQLSTATE and no public kind, only their text.
//! Every writer, `import` and `serve` (503 against 500) ask here.

use tokio_postgres::error::SqlState;

/// The SQLSTATEs of trouble that passes: a lost or refused connection (class 08), a server
/// shutting down, crashed or starting (57P01-57P03), a serialization failure or deadlock
/// (40001, 40P01), too many connections (53300).
const TRANSIENT: [SqlState; 13] = [
    SqlState::CONNECTION_EXCEPTION,
    SqlState::CONNECTION_DOES_NOT_EXIST,
    SqlState::CONNECTION_FAILURE,
    SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    SqlState::SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION,
    SqlState::TRANSACTION_RESOLUTION_UNKNOWN,
    SqlState::PROTOCOL_VIOLATION,
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
    SqlState::T_R_SERIALIZATION_FAILURE,
    SqlState::T_R_DEADLOCK_DETECTED,
    SqlState::TOO_MANY_CONNECTIONS,
];

/// Is this error worth retrying?
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(state) => TRANSIENT.contains(state),
        None => e.is_closed() || has_io_cause(e) || is_driver_connection_failure(&e.to_string()),
    }
}

/// A statement cancelled by `statement_timeout` (57014) or a lock not granted in time
/// (55P03): the database is busy, not broken, so a client should retry.
pub fn is_busy(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::QUERY_CANCELED || *c == SqlState::LOCK_NOT_AVAILABLE)
}

/// True when some cause in `e`'s chain is a transient database error.
pub fn any_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>()
            .is_some_and(is_transient)
    })
}

/// True when the database, not the request, is why `e` failed for now: a transient or busy
/// database error, or no pooled connection in time.
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>()
            .is_some_and(|e| is_transient(e) || is_busy(e))
            || c.downcast_ref::<deadpool_postgres::PoolError>().is_some()
    })
}

/// True when `e` came from the database or the pool at all (else from the input).
pub fn is_database(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>().is_some()
            || c.downcast_ref::<deadpool_postgres::PoolError>().is_some()
    })
}

fn has_io_cause(e: &tokio_postgres::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The driver's own connection failures and timeouts ("error connecting to server", "timeout
/// waiting for server", a TLS stream's "connection reset") have no SQLSTATE, and the driver
/// does not make their kind public: their text is all there is. The one place that reads it.
fn is_driver_connection_failure(text: &str) -> bool {
    text.contains("timeout") || text.contains("connection")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_own_failures_are_read_from_their_text() {
        assert!(is_driver_connection_failure("timeout waiting for server"));
        assert!(is_driver_connection_failure(
            "error connecting to server: connection refused"
        ));
        assert!(!is_driver_connection_failure(
            "error serializing parameter 1"
        ));
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        // Port 1 on loopback: nothing listens, the connect is refused at once.
        let e = tokio_postgres::connect("host=127.0.0.1 port=1 user=x", tokio_postgres::NoTls)
            .await
            .err()
            .expect("nothing listens on port 1");
        assert!(e.code().is_none());
        assert!(is_transient(&e), "{e}");
        assert!(any_transient(&anyhow::Error::new(e).context("connecting")));
    }
}
