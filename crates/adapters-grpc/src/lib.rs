//! tonic adapter serving the EventService of proto/event.proto, with health and reflection.
