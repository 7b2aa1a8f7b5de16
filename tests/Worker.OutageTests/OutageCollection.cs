using Worker.IntegrationTests.Reliability;

// One test at a time: each stops or silences its servers for minutes, and they share them.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Worker.OutageTests;

/// <summary>Servers of their own, apart from the integration tests' (which run beside these), stopped and silenced at will.</summary>
[CollectionDefinition(Name)]
public sealed class OutageCollection : ICollectionFixture<FaultFixture>
{
    public const string Name = "outages";
}
