//! PaymentGateway implementations: the in-process sandbox and the HTTP client of backend-payment.
