using System.CommandLine;
using Publisher.Bench;
using Publisher.CustomerPromotionLists;
using Publisher.FrontDoor;
using Publisher.LeadSegments;
using Publisher.MarketingPermissions;

var root = new RootCommand("Publishes update commands to the worker's queues, as an upstream service would")
{
    LeadSegmentCommands.Build(),
    MarketingPermissionCommands.Build(),
    CustomerPromotionListCommands.Build(),
    BenchCommand.Build(),
    FrontDoorCommand.Build(),
};
return await root.Parse(args).InvokeAsync();
