using MassTransit;
using MassTransit.UsageTracking;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Worker.Messaging;

/// <summary>
/// MassTransit 8.4 and later report the bus's configuration, host details and message counts to their vendor over
/// HTTPS a few minutes after a bus starts, unless told otherwise. This worker handles people's consent data and
/// connects to nothing its operator did not configure, so every bus the project builds with AddMassTransit turns
/// that report off here, in code.
/// </summary>
public static class UsageTelemetry
{
    /// <summary>
    /// MassTransit's DisableUsageTelemetry, made to hold: on its own it is undone by the MASSTRANSIT_USAGE_TELEMETRY
    /// environment variable, which MassTransit's tracker reads after the options, so the tracker itself is replaced
    /// by one that never collects or reports anything.
    /// </summary>
    public static IBusRegistrationConfigurator DisableUsageTelemetryForGood(this IBusRegistrationConfigurator bus)
    {
        bus.DisableUsageTelemetry();
        bus.RemoveAll<IUsageTracker>();
        bus.AddSingleton<IUsageTracker, RefusedUsageTracker>();
        return bus;
    }

    /// <summary>Attaches nothing to the bus, so no usage is gathered and no report is ever scheduled.</summary>
    public sealed class RefusedUsageTracker : IUsageTracker
    {
        public void PreConfigureBus<T>(T configurator, IBusRegistrationContext context) where T : IBusFactoryConfigurator
        {
        }

        public void PreConfigureRider<T>(T configurator) where T : IRiderFactoryConfigurator
        {
        }
    }
}
