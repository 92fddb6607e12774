//! Outbound domain events: the AMQP (RabbitMQ) publisher and the logging sink of the embedded default.
