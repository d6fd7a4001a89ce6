//! `acrctl cache clear`: drops every cached token and remembered fact.

use crate::context::Context;
use crate::error::AppError;

pub fn clear(ctx: &Context) -> Result<u8, AppError> {
    let removed = ctx.cache.remove_where(|_| true);
    if ctx.printer.format != crate::cli::OutputFormat::None {
        println!(
            "Removed {removed} cached entr{}.",
            if removed == 1 { "y" } else { "ies" }
        );
    }
    Ok(0)
}
