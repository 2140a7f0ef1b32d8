//! The flow engine, pure: the model read from React-Flow JSON, templating, conditions, validation
//! and `step(flow, state, input, env) -> (state, effects)`. No IO, no async, no clock reads.

pub mod condition;
pub mod engine;
pub mod model;
pub mod template;
pub mod validate;

/// A published flow version, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedFlow {
    pub flow_id: uuid::Uuid,
    pub version_id: uuid::Uuid,
    pub flow: Flow,
    pub settings: FlowSettings,
}

pub use engine::{
    ApiOutcome, Effect, Env, FlowSettings, FlowState, Input, OutMessage, RunStatus, Step, TimerKind, UserMessage, step,
};
pub use model::{Flow, FlowJson};
pub use validate::{Reference, ValidationError, validate};
