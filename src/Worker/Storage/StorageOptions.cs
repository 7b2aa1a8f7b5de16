namespace Worker.Storage;

public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The PostgreSQL schema that holds the document tables and the inbox.</summary>
    public string Schema { get; set; } = "public";

    /// <summary>
    /// How long a processed command's id and result are kept. A copy of a command redelivered or re-published
    /// within this window is answered from the inbox instead of being applied again.
    /// </summary>
    public TimeSpan InboxRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often expired inbox entries are deleted.</summary>
    public TimeSpan InboxCleanupInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How many times a command is re-run when another writer changed its document in between.</summary>
    public int ConcurrencyAttempts { get; set; } = 10;
}
