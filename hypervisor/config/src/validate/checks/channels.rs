//! Channels: every endpoint is a partition, and a channel connects at least two partitions,
//! at least one of which may write.
//!
//! Design: [impl->dsn~config-checks~1]

use bulkhead_core::system::Access;

use crate::diagnostic::{Code, Diagnostics};
use crate::validate::{Context, report};

pub(crate) fn check_channel_unknown_partition(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    let names: Vec<&str> = context.drafts.iter().map(|draft| draft.name()).collect();
    for channel in context.channels {
        for name in channel.table.get_ref().access.get_ref().keys() {
            if !names.contains(&name.get_ref().as_str()) {
                report(
                    diagnostics,
                    Code::ChannelUnknownPartition,
                    format!(
                        "channel `{}` names partition `{}`, which does not exist",
                        channel.name(),
                        name.get_ref()
                    ),
                    context.source,
                    name.span(),
                    "no such partition",
                    format!("partitions: {}", names.join(", ")),
                );
            }
        }
    }
}

pub(crate) fn check_channel_endpoints_invalid(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for channel in context.channels {
        let access = &channel.table.get_ref().access;
        let problem = if access.get_ref().len() < 2 {
            Some(format!(
                "channel `{}` has {} endpoint(s); a channel connects at least two partitions",
                channel.name(),
                access.get_ref().len()
            ))
        } else if !channel
            .endpoints
            .iter()
            .any(|(_, access, _)| *access == Access::ReadWrite)
            && channel.endpoints.len() == access.get_ref().len()
        {
            Some(format!(
                "channel `{}` has no \"rw\" endpoint: nobody can write to it",
                channel.name()
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            report(
                diagnostics,
                Code::ChannelEndpointsInvalid,
                message,
                context.source,
                access.span(),
                "endpoints",
                "write access = { producer = \"rw\", consumer = \"ro\" }",
            );
        }
    }
}
