// The workbook as a shared Azure Monitor workbook bound to an Application Insights resource.
// Its content is the generated workbook file, loaded at compile time, so it never drifts.
@description('Resource id of the Application Insights component')
param appInsightsResourceId string

param workbookDisplayName string = 'Sub-orchestration runs'

@description('Workbook resource name (a GUID): stable per Application Insights resource, so a redeploy updates the workbook instead of adding a copy')
param workbookId string = guid(resourceGroup().id, appInsightsResourceId, 'sub-orchestration-runs')

param location string = resourceGroup().location

// fallbackResourceIds: the resource the workbook queries when opened without one (from the
// Azure Monitor hub's Workbooks gallery rather than from the App Insights resource).
var content = union(loadJsonContent('../sub-orchestration-runs.workbook'), {
  fallbackResourceIds: [appInsightsResourceId]
})

resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: workbookId
  location: location
  kind: 'shared'
  properties: {
    displayName: workbookDisplayName
    serializedData: string(content)
    version: 'Notebook/1.0'
    sourceId: appInsightsResourceId
    category: 'workbook'
  }
}

output workbookResourceId string = workbook.id
