//! placeholder: the control-plane fixture lives here
