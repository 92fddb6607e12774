//! Outbound domain events: the AMQP (RabbitMQ) publisher and the logging sink of the embedded
//! default. Both implement the application's `MessagePublisher` port and publish the same JSON
//! envelope (`OutboxRecord::envelope`, PRODUCT.md §10).

mod amqp;
mod logging;

pub use amqp::{AmqpConfig, AmqpPublisher};
pub use logging::LoggingPublisher;

#[doc(hidden)]
pub mod testing;
