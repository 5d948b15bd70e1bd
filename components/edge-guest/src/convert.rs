//! The guest side of the WIT boundary: every `zerodb:edge/origin` type to or
//! from its edge-core counterpart. Conversions only, no calls, so that a
//! front calling the import its own way (sync or async) shares them.

// Every WIT record and enum to and from its core type.
edge_core::wit_conversions!(crate::wit);
