using System.Xml.Linq;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Layout;

/// <summary>
/// The projects reference each other as decision record 0006 sets out: the error catalogs are in Contracts, the start-up
/// checks in Hosting, and only the bench (and the tests) run the worker's own code.
/// </summary>
public sealed class ProjectReferenceTests
{
    [Theory]
    [InlineData("Contracts", new string[0])]
    [InlineData("Hosting", new string[0])]
    [InlineData("Worker", new[] { "Contracts", "Hosting" })]
    [InlineData("Publisher", new[] { "Contracts", "Hosting" })]
    [InlineData("Bench", new[] { "Contracts", "Worker" })]
    public void Each_project_references_only_what_it_is_meant_to(string project, string[] expected)
    {
        var file = XDocument.Load(Path.Combine(LocalServices.RepositoryRoot(), "src", project, project + ".csproj"));
        var references = file.Descendants("ProjectReference")
            .Select(reference => Path.GetFileNameWithoutExtension(reference.Attribute("Include")!.Value.Replace('\\', '/')))
            .Order();
        Assert.Equal(expected.Order(), references);
    }

    [Fact]
    public void The_publisher_program_does_not_load_the_worker()
    {
        var loaded = typeof(Publisher.PublisherBus).Assembly.GetReferencedAssemblies().Select(assembly => assembly.Name).ToList();
        Assert.Contains("Contracts", loaded);
        Assert.DoesNotContain("Worker", loaded);
    }
}
