using System.CommandLine;
using Hosting;
using Publisher.CustomerPromotionLists;
using Publisher.FrontDoor;
using Publisher.LeadSegments;
using Publisher.MarketingPermissions;

var root = new RootCommand("Publishes update commands to the worker's queues, as an upstream service would")
{
    LeadSegmentCommands.Build(),
    MarketingPermissionCommands.Build(),
    CustomerPromotionListCommands.Build(),
    FrontDoorCommand.Build(),
};
try
{
    // Exceptions come here rather than to System.CommandLine's handler, which prints every one with its stack trace.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
    return StartupFailure.Report(e, configuration, "publisher");
}
