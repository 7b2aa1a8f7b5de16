using Worker.CustomerPromotionLists;
using Worker.DemoData;
using Worker.Health;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Startup;

namespace Worker;

public static class WorkerSetup
{
    /// <summary>Everything the worker runs: storage, the features, and the bus that feeds them.</summary>
    public static IHostApplicationBuilder AddUpdateWorker(this IHostApplicationBuilder builder,
        RestartingHost? restartingHost = null)
    {
        builder.Services.AddOptions<StartupOptions>().BindConfiguration(StartupOptions.Section).ValidateDataAnnotations()
            .ValidateOnStart();
        // A start that fails for an expected reason is told in one line by Program, not as the host's stack trace;
        // the unexpected still is logged in full there.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        PlainConsoleFormatter.UseForConsole(builder.Logging);
        MassTransitLogs.Use(builder.Services);
        builder.Services.PostConfigure<LoggerFilterOptions>(StartupFailure.QuietMassTransitWhenGivenUp);
        builder.Services.AddSingleton(restartingHost ?? new RestartingHost());
        builder.Services.AddDocumentStorage(builder.Configuration, builder.Environment.IsDevelopment());
        builder.Services.AddObservability(builder.Configuration);
        builder.Services.AddHealthEndpoint();
        builder.Services.AddSingleton<DemoDataImport>();
        builder.Services.AddLeadSegments();
        Redrive.RedriveMark.AddRedrive(builder.Services);
        builder.Services.AddMarketingPermissions();
        builder.Services.AddCustomerPromotionLists();
        builder.Services.AddMessaging(builder.Configuration, builder.Environment.IsDevelopment(), bus =>
        {
            bus.AddLeadSegmentConsumers();
            bus.AddMarketingPermissionConsumers();
            bus.AddCustomerPromotionListConsumers();
        });
        return builder;
    }
}
