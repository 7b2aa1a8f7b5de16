using System.ComponentModel.DataAnnotations;

namespace Worker.Storage;

public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The PostgreSQL schema that holds the document tables and the inbox.</summary>
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "Storage:Schema must be a lower-case PostgreSQL identifier")]
    public string Schema { get; set; } = "public";

    /// <summary>
    /// <c>Migrate</c>: the worker creates or migrates its schema at start, so its database role owns it.
    /// <c>Verify</c>: the worker only checks that the schema is up to date and ends the start in one line when it is
    /// behind; the schema is migrated beforehand by <c>worker schema</c> under an owner role, and the worker runs under
    /// a role that may only read and write rows (docs/security.md).
    /// </summary>
    public SchemaAtStart SchemaAtStart { get; set; } = SchemaAtStart.Migrate;

    /// <summary>
    /// How long a processed command's id and result are kept. A copy of a command redelivered or re-published
    /// within this window is answered from the inbox instead of being applied again.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]
    public TimeSpan InboxRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often expired inbox entries are deleted.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]
    public TimeSpan InboxCleanupInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many times a command is re-run when another writer changed its document in between.</summary>
    [Range(1, 1000)]
    public int ConcurrencyAttempts { get; set; } = 10;

    /// <summary>
    /// How many lanes apply commands side by side. Commands for one document always share a lane and are applied in
    /// delivery order. One lane was fastest with the database on the same two cores, in throughput and in latency:
    /// what waits goes into the next batch, so there are fewer, larger transactions. More lanes overlap one batch's
    /// database round trips with another's work, which may pay where the database is a network hop away.
    /// </summary>
    [Range(1, 256)]
    public int Lanes { get; set; } = 1;

    /// <summary>
    /// The most commands a lane commits in one transaction; 1 gives one transaction per command. A batch only fills
    /// up when commands wait, so this bounds the size of a transaction under load and costs nothing when it is light.
    /// </summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;
}

public enum SchemaAtStart
{
    Migrate,
    Verify,
}
